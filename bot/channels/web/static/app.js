// ipsbot web form: small enhancements only; every page works without this script.
(function () {
  "use strict";
  // a risk answer shows the crisis help at once, before anything is sent (the server shows it again)
  var box = document.getElementById("crisis-now");
  if (box) {
    var update = function () {
      var risk = document.querySelector("input[data-risk]:checked");
      if (risk && box.hidden) {
        // right under the item just answered, where the person is looking
        var item = risk.closest("fieldset");
        if (item) { item.after(box); }
        box.hidden = false;
      }
    };
    document.addEventListener("change", update);
    update();
  }
  // inside Telegram: hand the signed init data to the server, which checks it with the bot token
  var auth = document.getElementById("tg-auth");
  var app = window.Telegram && window.Telegram.WebApp;
  if (auth && app && app.initData) {
    app.ready();
    auth.elements.init_data.value = app.initData;
    auth.submit();
  }
})();
