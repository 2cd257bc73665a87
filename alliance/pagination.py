"""Pages of long lists, as pretix's PaginationMixin: 25 a page unless ``?page_size=`` asks
for another size (250 at most). A bad page number gives the first or the last page."""

from collections.abc import Sequence

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 250


def page_size(request: HttpRequest, *, default: int = DEFAULT_PAGE_SIZE) -> int:
    """``?page_size=`` within 1 to MAX_PAGE_SIZE; ``default`` when absent or not a number."""
    try:
        size = int(request.GET.get("page_size") or default)
    except ValueError:
        return default
    return max(1, min(size, MAX_PAGE_SIZE))


def paginate(
    request: HttpRequest, object_list: Sequence | QuerySet, *, default: int = DEFAULT_PAGE_SIZE
) -> Page:
    """The page ``?page=`` asks for (``Paginator.get_page``: never an error).

    Templates show its links with ``{% include "includes/pagination.html" %}``.
    """
    paginator = Paginator(object_list, page_size(request, default=default))
    return paginator.get_page(request.GET.get("page"))
