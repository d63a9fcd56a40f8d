// A table wider than the screen scrolls inside its .table-wrap; keyboard users must be able to reach
// that scroll region (WCAG 2.1.1). Each wrap that overflows becomes a focusable, labelled region, on
// load, on resize and after every htmx swap.
(function () {
  function mark(root) {
    (root || document).querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        if (!wrap.hasAttribute("aria-label")) {
          var caption = wrap.querySelector("caption");
          var heading = wrap.closest("section") && wrap.closest("section").querySelector("h2, h1");
          var label = (caption || heading || {}).textContent;
          if (label) wrap.setAttribute("aria-label", label.trim());
        }
      } else if (wrap.getAttribute("tabindex") === "0") {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { mark(); });
  window.addEventListener("resize", function () { mark(); });
  document.addEventListener("htmx:afterSettle", function () { mark(); });
})();
