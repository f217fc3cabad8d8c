// Who is signed in: the bearer token and what it says (kind, role). The server checks
// every request anyway; the UI only uses this to show what the role may use.
import { reactive } from "vue";

const KEY = "kameng.token";

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return null;
  }
}

export const session = reactive({
  token: null,
  userId: null,
  kind: null,
  role: null,
  username: null,
  isAgent: false, // learnt from the agent routes once signed in (see App.vue)

  signIn(token, username) {
    const said = claims(token);
    if (!said) return;
    Object.assign(this, { token, userId: said.sub, kind: said.kind, role: said.role || null, username });
    localStorage.setItem(KEY, JSON.stringify({ token, username }));
  },
  clear() {
    Object.assign(this, { token: null, userId: null, kind: null, role: null, username: null, isAgent: false });
    localStorage.removeItem(KEY);
  },
  get isStaff() {
    return this.kind === "staff";
  },
  get isCustomer() {
    return this.kind === "customer";
  },
  can(...roles) {
    return this.isStaff && roles.includes(this.role);
  },
});

try {
  const saved = JSON.parse(localStorage.getItem(KEY) || "null");
  const said = saved && claims(saved.token);
  if (said && said.exp * 1000 > Date.now()) session.signIn(saved.token, saved.username);
  else localStorage.removeItem(KEY);
} catch {
  localStorage.removeItem(KEY);
}
