// Follows a running run: appends its new log lines every second, shows its
// latest progress (stage, counts, rate, time left) above the log, reloads
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
  var bar = document.getElementById("progress");
  var line = document.getElementById("progress-line");
  // A known total fills the bar; otherwise it moves without a value.
  function showProgress(progress) {
    if (progress && progress.total) {
      bar.max = progress.total;
      bar.value = Math.min(progress.done, progress.total);
    } else {
      bar.removeAttribute("value");
    }
    line.hidden = !progress;
    line.textContent = progress ? progress.text : "";
  }
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
        showProgress(data.progress);
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
