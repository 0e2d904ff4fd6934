/* HandsUp console: small progressive enhancements. Every form works without this file. */
(function () {
  "use strict";
  // Ask before destructive actions: <form data-confirm="Cancel this shift?">
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // Live encoding and segment count under a text box: <textarea data-sms-counter
  // data-prefix="Community: "> with an <output class="sms-counter"> in the same form.
  // The same rules as flows/sms.py segment_info (the server's preview is what counts).
  var GSM7_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXTENDED = "^{}\\[~]|€\f";

  function segmentInfo(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (ch) {
      return GSM7_BASIC.indexOf(ch) >= 0 || GSM7_EXTENDED.indexOf(ch) >= 0;
    });
    var widths = chars.map(function (ch) {
      if (gsm) { return GSM7_EXTENDED.indexOf(ch) >= 0 ? 2 : 1; }
      return ch.length; // UTF-16 code units: 2 for an emoji outside the BMP
    });
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var units = widths.reduce(function (a, b) { return a + b; }, 0);
    var segments = units ? 1 : 0;
    if (units > single) {
      var used = 0;
      widths.forEach(function (w) {
        if (used + w > multi) { segments += 1; used = 0; }
        used += w;
      });
    }
    return { encoding: gsm ? "GSM-7" : "UCS-2", units: units, segments: segments };
  }

  function attachCounter(box) {
    var form = box.closest("form");
    var out = form && form.querySelector(".sms-counter");
    if (!out) { return; }
    var prefix = box.getAttribute("data-prefix") || "";
    function update() {
      var info = segmentInfo(prefix + box.value.trim());
      out.textContent = info.encoding + " · " + info.units + " characters · " +
        info.segments + " segment" + (info.segments === 1 ? "" : "s") + " per message" +
        (info.encoding === "UCS-2" ? " (an emoji or special letter makes every segment shorter)" : "");
    }
    box.addEventListener("input", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("textarea[data-sms-counter]"), attachCounter);
  });
})();
