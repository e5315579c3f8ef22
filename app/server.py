"""Build the app for one browser session and serve it (127.0.0.1 by default)."""

from __future__ import annotations

import html
import logging
from typing import Any

import holoviews as hv
import panel as pn

from tensorbench.engine import Config, __version__
from tensorbench.engine.data import MAX_UPLOAD_BYTES
from tensorbench.engine.worker import warm_up
from tensorbench.widgets.toast import error_toast

from .pages import PAGES

__all__ = ["create_app", "serve"]

_HEADER = "#1b2733"

log = logging.getLogger(__name__)


def create_app(config: Config | None = None) -> pn.template.BootstrapTemplate:
    """A new app for one session; ``config`` opens on the page that handles its task.

    Every call builds new state, so two browser sessions never share anything.
    """
    hv.extension("bokeh", logo=False)
    # Canvas, not HoloViews' default WebGL: the live plots hold thousands of points at
    # most, and where the browser has no GPU (VMs, remote desktops, headless CI) WebGL runs
    # in software and every repaint copies it back to the page -- measured in Chromium
    # without a GPU: ~80% of the page's time, so a click on Cancel took seconds to land.
    hv.renderer("bokeh").webgl = False
    # Data plots do not take the mouse wheel until their zoom tool is chosen: with
    # HoloViews' default (wheel zoom active) scrolling the page over a plot zoomed it
    # instead, e.g. the Search scatter's error axis out to 1e23. The network diagram
    # keeps wheel zoom (its own option), as a drawing canvas does.
    hv.opts.defaults(
        *(
            getattr(hv.opts, element)(active_tools=["pan"])
            for element in ("Curve", "Scatter", "Points", "Bars", "Image", "RGB", "Segments")
        )
    )
    tmpl = pn.template.BootstrapTemplate(
        title="tensorbench",
        header_background=_HEADER,
        sidebar_width=340,
        # A button's tooltip opens beside it, over its neighbour, and took the clicks
        # meant for it (after Undo, "Undo (Ctrl+Z)" covered Redo): tooltips only inform.
        raw_css=[".bk-Tooltip { pointer-events: none; }"],
    )
    slug = "network"
    if config is not None:
        slug = next((p.slug for p in PAGES if config.kind in p.accepts), slug)
    pages: dict[str, Any] = {}

    def page(slug: str) -> Any:
        if slug not in pages:
            spec = next(p for p in PAGES if p.slug == slug)
            pages[slug] = spec.factory(
                config if config is not None and config.kind in spec.accepts else None
            )
            if hasattr(pages[slug], "handoff"):
                pages[slug].handoff = hand_off
            pages[slug].state.route = open_elsewhere
        return pages[slug]

    def show_on(slug: str, what: str, action: Any, doing: str) -> bool:
        """Run ``action`` (a page receiving something) and show that page; False, and a
        bug said where the user is (never a dead button), when it raised."""
        try:
            action()
        except Exception as e:
            log.exception("%s the %s page failed", doing, slug)
            error_toast(
                html.escape(
                    f"could not open {what} on the {slug} page (internal error, "
                    f"{type(e).__name__}: {e})",
                    quote=False,
                ),
                duration=0,
            )
            return False
        nav.value = slug
        return True

    def open_elsewhere(config: Config, source: str) -> None:
        """Open a config uploaded on a page that does not run its kind on the page that
        does, and say so (it used to empty the canvas, or was refused)."""
        spec = next((p for p in PAGES if config.kind in p.accepts), None)
        if spec is None:  # pragma: no cover - every task kind has a page
            return
        opened = show_on(
            spec.slug,
            source,
            lambda: page(spec.slug).open_config(config, source),
            f"opening {source} on",
        )
        if opened and pn.state.notifications is not None:
            pn.state.notifications.info(
                html.escape(
                    f"{source} is {'an' if config.kind[0] in 'aeiou' else 'a'} "
                    f"{config.kind} config: opened on the {spec.title} page",
                    quote=False,
                ),
                duration=6000,
            )

    def hand_off(slug: str, network: Any, **extra: Any) -> None:
        """Send a network (and e.g. the data it was found for) to another page; show it."""
        show_on(slug, "this", lambda: page(slug).receive_network(network, **extra), "hand-off to")

    nav = pn.widgets.RadioButtonGroup(
        options={p.title: p.slug for p in PAGES},
        value=slug,
        color="light",
        sizing_mode="stretch_width",
        # Bootstrap's padding made the four names wider than the sidebar ("Attention" was
        # cut at its edge).
        stylesheets=[":host .bk-btn { padding-left: 4px; padding-right: 4px; }"],
    )
    side = pn.Column(sizing_mode="stretch_width")
    main = pn.Column(sizing_mode="stretch_width")

    def show(slug: str) -> None:
        current = page(slug)
        side.objects = current.sidebar()
        main.objects = [current.main()]

    nav.param.watch(lambda e: show(e.new), "value")
    show(slug)
    tmpl.sidebar.extend([nav, side])
    tmpl.main.append(main)
    tmpl.header.append(
        pn.pane.HTML(
            f'<span style="color: #c9d6e3; font-size: 13px">v{__version__} · draw, decompose, '
            "search and attend with tensor networks</span>"
        )
    )
    return tmpl


def serve(
    config: Config | None = None,
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    show: bool = False,
    threaded: bool = False,
    **kwargs: Any,
) -> Any:
    """Serve the app. Resources are served by this server itself (no CDN).

    Returns the server (immediately when ``threaded``; otherwise after it stops).
    """
    pn.extension("tabulator", design="bootstrap", notifications=True)
    origins = [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]

    def app() -> pn.template.BootstrapTemplate:
        # A plain function (not a partial): Panel calls functions once per session.
        return create_app(config)

    # Uploads travel as one base64 websocket message: Bokeh's default cap (20 MiB) cut
    # the connection on a 16 MB .npy ("Server connection lost", the session's work gone)
    # although the data form takes files up to MAX_UPLOAD_BYTES. Room for the largest
    # one, encoded, and the message around it.
    kwargs.setdefault("websocket_max_message_size", MAX_UPLOAD_BYTES * 4 // 3 + 2**24)
    # Runs go to worker processes forked from a server that has imported the engine:
    # started now, the first Run does not wait for torch's import.
    warm_up()
    return pn.serve(
        {"/": app},
        port=port,
        address=address,
        show=show,
        title="tensorbench",
        websocket_origin=origins,
        threaded=threaded,
        **kwargs,
    )
