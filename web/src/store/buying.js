// Buying one product from a catalogue page (the storefront's and an agent's shop): a visitor signs in
// first and comes back to `next` (the current page when not given); the API's refusal is kept beside
// the product.
import { reactive, ref } from "vue";
import { useRoute, useRouter } from "vue-router";
import { api } from "../api.js";
import { session } from "../session.js";

export function useBuying(next = null) {
  const route = useRoute();
  const router = useRouter();
  const quantities = reactive({});
  const errors = reactive({});
  const buying = ref(null);

  // `extra` joins the order's body: a coupon code, the shop it is bought through
  async function buy(product, extra = {}) {
    if (!session.isCustomer) {
      router.push({ path: "/login", query: { next: next ?? route.fullPath } });
      return;
    }
    errors[product.id] = "";
    buying.value = product.id;
    try {
      const order = await api("POST", "/api/v1/orders", {
        body: { items: [{ product_id: product.id, quantity: Number(quantities[product.id]) }], ...extra },
        headers: { "Idempotency-Key": crypto.randomUUID() },
      });
      router.push(`/orders/${order.id}`);
    } catch (error) {
      errors[product.id] = error.message;
    } finally {
      buying.value = null;
    }
  }

  return { quantities, errors, buying, buy };
}
