// The page follows the pull request as GitHub's does: what the bot posts
// appears without a reload; what you opened stays open.
(function () {
  let last = document.getElementById("live").innerHTML;
  setInterval(async function () {
    const resp = await fetch(location.pathname + "/timeline" + location.search, {cache: "no-store"});
    if (!resp.ok) return;
    const html = await resp.text();
    if (html === last) return;
    const live = document.getElementById("live");
    const open = [...live.querySelectorAll("details")].map(d => d.open);
    const draft = live.querySelector("textarea") ? live.querySelector("textarea").value : "";
    live.innerHTML = html;
    last = html;
    live.querySelectorAll("details").forEach((d, i) => { if (open[i]) d.open = true; });
    if (live.querySelector("textarea")) live.querySelector("textarea").value = draft;
  }, 1500);
})();
