import { createRouter, createWebHistory } from "vue-router";
import { session } from "./session.js";
import Home from "./store/Home.vue";

// The storefront loads with the first page; the console (Element Plus, ECharts) only when opened.
const routes = [
  { path: "/", component: Home },
  { path: "/login", component: () => import("./store/SignIn.vue") },
  { path: "/register", component: () => import("./store/Register.vue") },
  { path: "/s/:slug", component: () => import("./store/Shop.vue") },
  { path: "/orders", component: () => import("./store/Orders.vue"), meta: { customer: true } },
  { path: "/wallet", component: () => import("./store/Wallet.vue"), meta: { customer: true } },
  { path: "/agent", component: () => import("./store/Agent.vue"), meta: { customer: true } },
  { path: "/orders/:id", component: () => import("./store/Order.vue"), meta: { signedIn: true } },
  {
    path: "/admin",
    component: () => import("./admin/Console.vue"),
    meta: { staff: true },
    children: [
      { path: "", component: () => import("./admin/Dashboard.vue") },
      { path: "products", component: () => import("./admin/Products.vue") },
      { path: "orders", component: () => import("./admin/Orders.vue") },
      { path: "suppliers", component: () => import("./admin/Suppliers.vue") },
      { path: "restock", component: () => import("./admin/Restock.vue") },
      { path: "refunds", component: () => import("./admin/Refunds.vue") },
      { path: "refund-requests", component: () => import("./admin/RefundRequests.vue") },
      { path: "reviews", component: () => import("./admin/Reviews.vue") },
      { path: "customers", component: () => import("./admin/Customers.vue") },
      { path: "audit-log", component: () => import("./admin/AuditLog.vue") },
      { path: "staff", component: () => import("./admin/Staff.vue") },
      { path: "blacklist", component: () => import("./admin/Blacklist.vue") },
      { path: "levels", component: () => import("./admin/Levels.vue") },
      { path: "coupons", component: () => import("./admin/Coupons.vue") },
      { path: "finance", component: () => import("./admin/Finance.vue") },
      { path: "agents", component: () => import("./admin/Agents.vue") },
    ],
  },
  { path: "/:rest(.*)*", redirect: "/" },
];

export const router = createRouter({ history: createWebHistory(), routes });

router.beforeEach((to) => {
  const needsSignIn = to.matched.some((route) => route.meta.signedIn || route.meta.customer || route.meta.staff);
  if (needsSignIn && !session.token) return { path: "/login", query: { next: to.fullPath } };
  if (to.matched.some((route) => route.meta.staff) && !session.isStaff) return { path: "/login", query: { next: to.fullPath } };
  if (to.matched.some((route) => route.meta.customer) && !session.isCustomer) return { path: "/admin" };
  return true;
});
