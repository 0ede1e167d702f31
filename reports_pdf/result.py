"""What a render returns: the PDF, its page count, the elements that failed and the contents."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.errors import PortalError

__all__ = ["ElementError", "PageLimitExceeded", "RenderResult", "TocEntry"]


@dataclass(frozen=True)
class ElementError:
    """An element drawn as an error box instead of its content (``page`` is 1-based)."""

    element_id: str
    message: str
    page: int


@dataclass(frozen=True)
class TocEntry:
    """A heading of the document: a title element or a section's group, and its 1-based page."""

    title: str
    level: int
    page: int


@dataclass(frozen=True)
class RenderResult:
    """A finished render: PDF bytes, number of pages, failed elements, table of contents."""

    pdf: bytes
    pages: int
    errors: list[ElementError] = field(default_factory=list)
    toc: list[TocEntry] = field(default_factory=list)


class PageLimitExceeded(PortalError):
    """The document grew past ``RenderOptions.max_pages`` (a runaway table or section)."""

    status = 422
