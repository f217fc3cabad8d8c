import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

// Built into web/dist, which the gateway serves at / (same origin as the API: no CORS, no CDN).
export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
    rolldownOptions: {
      output: {
        // The console's heavy libraries stay out of the storefront's first load. A group takes
        // its modules' dependencies along, so Vue, which Element Plus imports, is grouped first
        // (the highest priority): otherwise it lands in console-ui and the storefront loads that.
        codeSplitting: {
          groups: [
            { name: "vue", test: /node_modules[\\/](vue|@vue|vue-router|vue-i18n|@intlify)[\\/]/, priority: 30 },
            { name: "charts", test: /node_modules[\\/](echarts|zrender)[\\/]/, priority: 20 },
            { name: "console-ui", test: /node_modules[\\/](element-plus|@element-plus)[\\/]/, priority: 10 },
          ],
        },
      },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
});
