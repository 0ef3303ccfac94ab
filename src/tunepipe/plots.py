"""An offline page for ``dvc plots show`` / ``dvc plots diff``.

DVC's page loads Vega, Vega-Lite and Vega-Embed from a CDN, so on a machine without the
internet (this one, many GPU clusters) the training curves render blank. This writes a
DVC HTML template (``--html-template``; ``.dvc/config`` names it as ``plots.html_template``,
so it is the default) with the three libraries inlined, taken from the installed
``vl-convert-python`` wheel: the page DVC writes is then self-contained. The template has no
``{scripts}`` placeholder, so DVC's CDN script tags are dropped.

    python -m tunepipe.plots .dvc/plots/offline.html      # make setup runs this
"""
from __future__ import annotations

import sys
from pathlib import Path

#: the Vega-Lite major DVC's plot templates are written for ($schema .../vega-lite/v5.json)
VEGA_LITE = "5.21"

PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- Vega {vega}, Vega-Lite {vega_lite}, Vega-Embed {embed}: inlined by tunepipe.plots (no CDN) -->
    <script>
BUNDLE
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def template() -> str:
    """The template's text (DVC fills ``{plot_divs}`` and ``{refresh_tag}``)."""
    import vl_convert as vlc

    bundle = vlc.javascript_bundle("window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;",
                                   vl_version=VEGA_LITE)
    bundle = bundle.replace("</script", "<\\/script")   # inline: the HTML parser must not end the tag
    head = (PAGE.replace("{vega}", vlc.get_vega_version()).replace("{vega_lite}", VEGA_LITE)
            .replace("{embed}", vlc.get_vega_embed_version()))
    return head.replace("BUNDLE", bundle)


def write_template(path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = template()
    if not p.is_file() or p.read_text(encoding="utf8") != text:
        p.write_text(text, encoding="utf8")
    return p


if __name__ == "__main__":
    print(f"offline plots template -> {write_template(sys.argv[1] if len(sys.argv) > 1 else '.dvc/plots/offline.html')}")
