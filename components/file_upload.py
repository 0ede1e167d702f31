"""A file chooser that streams the chosen file to the portal over HTTP, with upload progress.

Panel's ``FileInput``/``FileDropper`` send the file through the page's websocket and hold it
whole in the server's memory; a 1 GB CSV must not. This component PUTs the file's bytes
straight to ``url`` (``/data/upload``, which streams them to disk) with ``XMLHttpRequest`` and
reports ``loaded``/``total`` as the browser sends them; the answer's JSON lands in ``result``.
The request carries the page session's form token (``X-Upload-Token``), so another site cannot
make a signed-in browser upload. ``ReactiveHTML`` for the same reason as the PDF canvas: the
portal's CSP gives ES modules no ``blob:`` loader.
"""

from __future__ import annotations

from typing import Any, ClassVar

import param
from panel.reactive import ReactiveHTML

_CSS = """
.fu-root { display: flex; align-items: center; gap: 12px; font: 14px system-ui, sans-serif; }
.fu-root input[type=file] { font: inherit; padding: 6px; border: 1px dashed #94a3b8; border-radius: 6px;
  background: #f8fafc; max-width: 100%; }
"""

_RENDER = """
file.addEventListener("change", () => {
  const f = file.files[0];
  if (!f) { return; }
  data.error = "";
  data.result = "";
  data.filename = f.name;
  data.total = f.size;
  data.loaded = 0;
  data.status = "uploading";
  const xhr = new XMLHttpRequest();
  xhr.open("PUT", data.url + "?filename=" + encodeURIComponent(f.name));
  xhr.setRequestHeader("X-Upload-Token", data.token);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  let last = 0;
  xhr.upload.onprogress = (e) => {
    const now = Date.now();
    if (now - last > 250) { last = now; data.loaded = e.loaded; }
  };
  xhr.onload = () => {
    if (xhr.status >= 200 && xhr.status < 300) {
      data.loaded = f.size;
      data.result = xhr.responseText;
      data.status = "done";
    } else {
      let msg = "The upload was refused (HTTP " + xhr.status + ")";
      try { msg = JSON.parse(xhr.responseText).message || msg; } catch (err) { /* not JSON */ }
      data.error = msg;
      data.status = "error";
    }
    file.value = "";
  };
  xhr.onerror = () => { data.error = "The upload failed: the connection was lost."; data.status = "error"; };
  xhr.send(f);
});
"""


class StreamingUpload(ReactiveHTML):
    """Choose a file; its bytes go to :attr:`url` as they are read, never through the websocket."""

    url = param.String(default="/data/upload", doc="Where the file is PUT (streamed to disk there)")
    token = param.String(default="", doc="The page session's form token, sent as X-Upload-Token")
    accept = param.String(default=".csv,.tsv,.txt,.xlsx", doc="File types the chooser offers")
    status = param.Selector(default="idle", objects=["idle", "uploading", "done", "error"])
    filename = param.String(default="", doc="The chosen file's name (as the browser gives it)")
    loaded = param.Integer(default=0, doc="Bytes sent so far")
    total = param.Integer(default=0, doc="The file's size in bytes")
    result = param.String(default="", doc="The server's JSON answer once the upload is done")
    error = param.String(default="", doc="Why the upload failed")

    _template = (
        '<div id="root" class="fu-root"><input id="file" type="file" accept="${accept}"></input></div>'
    )
    _scripts: ClassVar[dict[str, Any]] = {"render": _RENDER}

    def __init__(self, **params: Any) -> None:
        params.setdefault("stylesheets", [_CSS])
        super().__init__(**params)
