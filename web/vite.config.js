import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

// Built into web/dist, which the gateway serves at / (same origin as the API: no CORS, no CDN).
export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        // the console's heavy libraries stay out of the storefront's first load
        manualChunks(id) {
          if (id.includes("node_modules/echarts") || id.includes("node_modules/zrender")) return "charts";
          if (id.includes("node_modules/element-plus") || id.includes("node_modules/@element-plus")) return "console-ui";
          return undefined;
        },
      },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
});
