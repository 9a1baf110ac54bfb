"""Static HTML pages that open from disk (no server, no network): the dataset site of `emmel view`
(``pages.dataset_site``) and, next to it, the benchmark's results report.

Shared pieces, small and reusable: ``html`` (escaping and element building: every string is
escaped unless it is already ``Html``), ``layout`` (the page frame, navigation, CSS/JS assets),
``paginate`` (page splitting and the pager), ``thumbs`` (thumbnails made once, placeholders for
missing or broken images) and ``output`` (the guarded, atomic output folder).
"""
