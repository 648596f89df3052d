/**
 * The HTTP methods Miranda serves.
 *
 * @module
 */

/** Every method a route may answer; any other is refused (and counted as `other`). */
export const HTTP_METHODS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
] as const;
