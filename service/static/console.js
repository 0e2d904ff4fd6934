/* HandsUp console: small progressive enhancements. Every form works without this file. */
(function () {
  "use strict";
  // Ask before destructive actions: <form data-confirm="Cancel this shift?">
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
})();
