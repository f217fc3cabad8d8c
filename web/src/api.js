// The one way the web app talks to Kameng: the gateway's public API, same origin.
import { session } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || null;
  }

  // the message for one form field (marshmallow's details are {field: [messages]})
  fieldMessage(field) {
    const found = this.details && this.details[field];
    if (!found) return "";
    return Array.isArray(found) ? found.join(" ") : typeof found === "string" ? found : JSON.stringify(found);
  }
}

function url(path, query) {
  const target = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, value);
  }
  return target;
}

function headersFor(extra, contentType) {
  const headers = { Accept: "application/json", ...extra };
  if (contentType) headers["Content-Type"] = contentType;
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  return headers;
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (response.ok) return body;
  if (response.status === 401 && session.token) session.clear();
  const error = (body && body.error) || {};
  throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || response.statusText, error.details);
}

export async function api(method, path, { body, query, headers, text, signal } = {}) {
  let payload;
  let contentType;
  if (text !== undefined) {
    payload = text;
    contentType = "text/plain; charset=utf-8";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    contentType = "application/json";
  }
  let response;
  try {
    response = await fetch(url(path, query), { method, headers: headersFor(headers, contentType), body: payload, signal });
  } catch (failure) {
    if (failure.name === "AbortError") throw failure;
    throw new ApiError(0, "network_error", failure.message);
  }
  return answer(response);
}

// An upload with progress (fetch has none): onProgress(fraction) as the body goes out.
export function upload(path, file, contentType, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url(path));
    for (const [key, value] of Object.entries(headersFor({}, contentType))) request.setRequestHeader(key, value);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    request.onerror = () => reject(new ApiError(0, "network_error", "the upload failed"));
    request.onload = () =>
      answer(new Response(request.responseText, { status: request.status, statusText: request.statusText })).then(resolve, reject);
    request.send(file);
  });
}

// Every page of a list route ({items, next_cursor}), up to `most` items.
export async function allPages(path, query = {}, most = 1000) {
  const items = [];
  let cursor;
  do {
    const page = await api("GET", path, { query: { ...query, limit: 100, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < most);
  return items;
}

export const money = (fen, currency = "CNY") =>
  new Intl.NumberFormat(undefined, { style: "currency", currency }).format((fen || 0) / 100);
