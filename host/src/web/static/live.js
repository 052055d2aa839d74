// Follows a running run: appends its new log lines every second, reloads
// the page when it ends. Without it, the page refreshes itself (noscript).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) {
    return;
  }
  var run = live.dataset.run;
  var next = Number(live.dataset.next);
  var log = document.getElementById("log");
  var elapsed = document.getElementById("elapsed");
  function poll() {
    fetch("/runs/" + run + "/log?from=" + next, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (data) {
        data.lines.forEach(function (line) {
          log.appendChild(document.createTextNode(line + "\n"));
        });
        next = data.next;
        elapsed.textContent = data.elapsed;
        if (data.lines.length) {
          log.scrollTop = log.scrollHeight;
        }
        if (data.running) {
          setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        setTimeout(poll, 3000);
      });
  }
  setTimeout(poll, 1000);
})();
