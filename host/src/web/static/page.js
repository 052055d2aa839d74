// Every page: each <time datetime> gets the browser's local time beside its
// UTC one, and a form's button marked data-busy says so and is disabled once
// sent (a login or a plan can take seconds). Without it the page reads the same, in UTC.
(function () {
  "use strict";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && zone !== "UTC" && zone !== "Etc/UTC") {
    var format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
    document.querySelectorAll("time[datetime]").forEach(function (time) {
      var date = new Date(time.getAttribute("datetime"));
      if (isNaN(date.getTime())) {
        return;
      }
      var local = document.createElement("span");
      local.className = "local";
      local.textContent = " (" + format.format(date) + ")";
      time.title = "your time: " + format.format(date);
      time.after(local);
    });
  }
  document.querySelectorAll("form button[data-busy]").forEach(function (button) {
    var idle = button.textContent;
    button.form.addEventListener("submit", function () {
      // Disabled after the submit event so that the form is still sent.
      setTimeout(function () {
        button.disabled = true;
        button.textContent = button.dataset.busy;
      }, 0);
    });
    // Back from the next page (the page cache): the button works again.
    window.addEventListener("pageshow", function () {
      button.disabled = false;
      button.textContent = idle;
    });
  });
})();
