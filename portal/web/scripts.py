"""Scripts the portal's pages load besides Panel's and Bokeh's own.

``/assets/bokeh-tweaks.js`` turns off a BokehJS feature the portal does not use and that costs
most of a dashboard's drawing time: every line, fill and text visual of every plot reads its
colour, width and alpha from CSS custom properties (``--bk-line-color`` ...) with
``getComputedStyle`` at each layout and paint. After the page's DOM changed (tiles arriving,
a filter updating charts) each of those reads recalculates styles: measured in Chromium on a
12-widget dashboard, 1.8 s of a 3.3 s filter change went into ``getPropertyValue``. Plots take
their looks from the spec and the Bokeh theme, never from CSS variables, so the lookup answers
"not set" at once. If a future BokehJS renames the method, the script leaves it alone.
"""

from __future__ import annotations

from tornado.web import RequestHandler

PATH = "/assets/bokeh-tweaks.js"

BOKEH_TWEAKS_JS = """\
(function () {
  function tweak() {
    var mod;
    try {
      mod = window.Bokeh && Bokeh.require && Bokeh.require("core/visuals/visual");
    } catch (e) {
      return true;
    }
    if (!mod) return false;
    var proto = mod.VisualProperties && mod.VisualProperties.prototype;
    if (proto && typeof proto._get_css_value === "function") {
      proto._get_css_value = function () { return ""; };
    }
    return true;
  }
  if (!tweak()) {
    var timer = setInterval(function () { if (tweak()) clearInterval(timer); }, 10);
  }
})();
"""


class BokehTweaksHandler(RequestHandler):
    """``GET /assets/bokeh-tweaks.js``."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=86400")
        self.finish(BOKEH_TWEAKS_JS)


def routes() -> list[tuple[str, type[RequestHandler]]]:
    """The script routes, for the web server."""
    return [(PATH, BokehTweaksHandler)]
