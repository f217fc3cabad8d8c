// The console's pages and the roles of API.md that may use each; the menu shows a role
// only its pages, and the gateway refuses the rest anyway.
export const PAGES = [
  { path: "/admin", key: "dashboard", roles: ["admin", "ops", "support", "finance", "auditor"] },
  { path: "/admin/products", key: "products", roles: ["admin", "ops"] },
  { path: "/admin/orders", key: "orders", roles: ["admin", "support", "finance", "auditor"] },
  { path: "/admin/suppliers", key: "suppliers", roles: ["admin", "ops"] },
  { path: "/admin/restock", key: "restock", roles: ["admin", "ops"] },
  { path: "/admin/refunds", key: "refunds", roles: ["admin", "finance", "auditor"] },
  { path: "/admin/refund-requests", key: "refundRequests", roles: ["admin", "finance", "support"] },
  { path: "/admin/reviews", key: "reviews", roles: ["admin", "support", "ops"] },
  { path: "/admin/customers", key: "customers", roles: ["admin", "support", "ops"] },
  { path: "/admin/audit-log", key: "auditLog", roles: ["admin", "auditor"] },
  { path: "/admin/staff", key: "staff", roles: ["admin"] },
  { path: "/admin/blacklist", key: "blacklist", roles: ["admin", "ops"] },
  { path: "/admin/levels", key: "levels", roles: ["admin", "ops"] },
  { path: "/admin/coupons", key: "coupons", roles: ["admin", "ops"] },
  { path: "/admin/finance", key: "finance", roles: ["admin", "finance", "auditor"] },
  { path: "/admin/agents", key: "agents", roles: ["admin", "finance"] },
];

export const pageFor = (path) => PAGES.find((page) => page.path === path.replace(/\/$/, "") || (page.path === "/admin" && path === "/admin/"));
