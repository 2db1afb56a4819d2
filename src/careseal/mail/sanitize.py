"""Clean message HTML for display with nh3 (ammonia), one part at a time.

Each HTML part is cleaned on its own and served as its own document, so
markup split across parts (an attribute opened in one, closed in the next)
can never join up. Scripts, event handlers, forms, frames and styles that
could load resources are removed; links keep only http, https and mailto
and open without a Referer. Remote images are dropped here, and the page's
Content-Security-Policy blocks any that slip through.
"""

from __future__ import annotations

import nh3

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del", "div",
    "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "ol", "p",
    "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
}
_ATTRIBUTES = {
    "*": {"align", "dir", "lang", "title"},
    "a": {"href"},
    "td": {"colspan", "rowspan", "valign", "width"},
    "th": {"colspan", "rowspan", "valign", "width", "scope"},
    "table": {"border", "cellpadding", "cellspacing", "width"},
    "font": {"color", "size"},
    "ol": {"start", "type"},
}


def clean_html(html: str) -> str:
    """Return *html* with everything that can run code or load a resource removed."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
