// A table wider than the screen scrolls inside its .table-wrap; keyboard users must be able to reach
// that scroll region (WCAG 2.1.1). Each wrap that overflows becomes a focusable, labelled region, on
// load, on resize and after every htmx swap; what this script added is marked (data-scroll-region)
// and is all it takes away again when the table fits.
(function () {
  function label(wrap) {
    var caption = wrap.querySelector("caption");
    var section = wrap.closest("section");
    var heading = section && section.querySelector("h2, h1");
    return ((caption || heading || {}).textContent || "").trim();
  }
  function mark(root) {
    (root || document).querySelectorAll(".table-wrap").forEach(function (wrap) {
      var overflows = wrap.scrollWidth > wrap.clientWidth + 1;
      var ours = wrap.hasAttribute("data-scroll-region");
      if (overflows && !ours && !wrap.hasAttribute("tabindex")) {
        wrap.setAttribute("data-scroll-region", "");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        if (!wrap.hasAttribute("aria-label") && label(wrap)) {
          wrap.setAttribute("aria-label", label(wrap));
          wrap.setAttribute("data-scroll-region", "labelled");
        }
      } else if (!overflows && ours) {
        if (wrap.getAttribute("data-scroll-region") === "labelled") wrap.removeAttribute("aria-label");
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("data-scroll-region");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { mark(); });
  window.addEventListener("resize", function () { mark(); });
  document.addEventListener("htmx:afterSettle", function () { mark(); });
})();
