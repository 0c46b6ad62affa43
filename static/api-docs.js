// Starts Swagger UI on the page served at /api/docs. Kept out of the HTML so the
// Content-Security-Policy can forbid inline scripts.
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
  });
});
