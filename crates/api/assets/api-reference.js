// Swagger UI over our own document; "Try it out" uses the page's session
// cookie, or a token entered under "Authorize".
window.addEventListener("load", function () {
  window.SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    tryItOutEnabled: false,
    withCredentials: true,
  });
});
