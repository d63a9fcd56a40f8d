// Ticks each <time class="countdown" data-seconds="N"> on once a second, counting from when the page
// (or the htmx fragment) showed it, so the browser's clock does not matter. When one runs out it sends
// "countdown-done" to the polled section around it, which then asks the server for a fresh fragment.
// A file rather than an inline script: the CSP allows scripts from 'self' only.
(function () {
  "use strict";

  // The words come from the page (data-text-*, translated by the template); English without them.
  function format(el, seconds) {
    var text = function (name, fallback) { return el.getAttribute("data-text-" + name) || fallback; };
    if (seconds <= 0) return text("now", "any moment now");
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var ss = (s < 10 ? "0" : "") + s;
    var pattern = h ? text("hours", "in {h} h {m} min {s} s") : text("minutes", "in {m} min {s} s");
    return pattern.replace("{h}", h).replace("{m}", h ? (m < 10 ? "0" : "") + m : m).replace("{s}", ss);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.countdown[data-seconds]").forEach(function (el) {
      if (el.countdownEnd === undefined) {
        el.countdownEnd = now + 1000 * parseInt(el.getAttribute("data-seconds"), 10);
      }
      var left = Math.ceil((el.countdownEnd - now) / 1000);
      el.textContent = format(el, left);
      if (left <= 0 && !el.countdownDone) {
        el.countdownDone = true;
        var section = el.closest("[hx-get]");
        if (section && window.htmx) window.htmx.trigger(section, "countdown-done");
      }
    });
  }

  tick();
  setInterval(tick, 1000);
})();
