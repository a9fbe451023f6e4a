// Starts Swagger UI on this API's OpenAPI document (/api/v1/docs). A file, not an inline script:
// the page's Content-Security-Policy runs only this site's scripts. The document's URL is the
// page's to give (data-openapi-url), so nothing here names a host.
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    // Swagger UI would otherwise send the document to an online validator.
    validatorUrl: null,
  });
})();
