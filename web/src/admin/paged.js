// A list route's pages ({items, next_cursor}) as a console table shows them: the first page on
// load(), the next appended on load(false); `query()` gives the filters of the moment.
import { ref } from "vue";
import { api } from "../api.js";

export function usePaged(path, query = () => ({}), limit = 50) {
  const items = ref([]);
  const cursor = ref(null);
  const failure = ref("");

  async function load(reset = true) {
    failure.value = "";
    try {
      const page = await api("GET", path, { query: { ...query(), limit, cursor: reset ? null : cursor.value } });
      items.value = reset ? page.items : [...items.value, ...page.items];
      cursor.value = page.next_cursor;
    } catch (error) {
      failure.value = error.message;
    }
  }

  return { items, cursor, failure, load };
}
