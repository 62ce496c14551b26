// kyso's only script, for the page where an official signs with a device that holds the key
// (deferred signing: the page shows the digest, the device signs it, the official pastes the
// raw signature back). The page works without it; this adds a button that copies the digest,
// checks that the pasted signature is base64 before sending it, and counts down to the moment
// the prepared signature expires. No inline script: the CSP allows scripts from kyso only.
(function () {
  "use strict";
  var copy = document.getElementById("copy");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      var from = document.getElementById(copy.getAttribute("data-copy"));
      navigator.clipboard.writeText(from.textContent.trim()).then(function () {
        copy.textContent = copy.getAttribute("data-done");
      });
    });
  }
  var form = document.getElementById("complete");
  var signature = document.getElementById("signature");
  var problem = document.getElementById("signature-error");
  if (form && signature && problem) {
    form.addEventListener("submit", function (e) {
      var v = signature.value.replace(/\s+/g, "");
      if (v.length === 0 || v.length % 4 !== 0 || !/^[A-Za-z0-9+\/]+={0,2}$/.test(v)) {
        e.preventDefault();
        problem.textContent = problem.getAttribute("data-message");
        signature.setAttribute("aria-invalid", "true");
        signature.focus();
      }
    });
  }
  var expires = document.getElementById("expires");
  var left = document.getElementById("left");
  if (expires && left) {
    var until = Date.parse(expires.getAttribute("data-expires"));
    var tick = function () {
      var s = Math.max(0, Math.round((until - Date.now()) / 1000));
      left.textContent = "(" + Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0") + ")";
      if (s > 0) {
        setTimeout(tick, 1000);
      }
    };
    if (!isNaN(until)) {
      tick();
    }
  }
})();
