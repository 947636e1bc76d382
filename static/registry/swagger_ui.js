"use strict";
// Accessibility repairs to what Swagger UI draws (and redraws), applied as it draws:
// - its sections (h3) sit straight under the page's title (h1), skipping a level that screen readers announce as
//   a gap, so each heading below the title is announced one level up;
// - its API description sits outside any landmark (the operations are its <main>), so it becomes a named region;
// - a parameter's drop-down has no label: it is named after its parameter;
// - a scrolling code sample cannot be reached from the keyboard: it joins the tab order.
(() => {
  const root = document.getElementById("swagger-ui");
  const repair = () => {
    for (const heading of root.querySelectorAll(":is(h3, h4, h5, h6):not([aria-level])")) {
      heading.setAttribute("aria-level", String(Number(heading.tagName.slice(1)) - 1));
    }
    for (const about of root.querySelectorAll(".information-container:not([role])")) {
      about.setAttribute("role", "region");
      about.setAttribute("aria-label", "About the API");
    }
    for (const control of root.querySelectorAll("tr[data-param-name] :is(select, input, textarea):not([aria-label])")) {
      control.setAttribute("aria-label", control.closest("tr").dataset.paramName);
    }
    for (const sample of root.querySelectorAll("pre.microlight:not([tabindex])")) {
      sample.setAttribute("tabindex", "0");
    }
  };
  new MutationObserver(repair).observe(root, { childList: true, subtree: true });
  repair();
})();
