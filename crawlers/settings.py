"""Scrapy settings of the emmel crawlers: polite by default.

The runner (``crawlers.runner.build_settings``) starts from these and applies the command-line
options; politeness here, not code, is what limits a real crawl.
"""

BOT_NAME = "emmel"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"
USER_AGENT = "emmel/0.1.0 (research crawler building the EMMEL entity-linking dataset; polite, obeys robots.txt)"

# --- politeness
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0.5  # each delay is DOWNLOAD_DELAY x (0.5 .. 1.5)
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 60
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024  # a bigger page is cancelled and counted, never parsed (images: EMMEL_IMAGE_MAX_BYTES)
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024

# --- robustness: retries with exponential backoff (Retry-After honoured) on 429 and 5xx
RETRY_ENABLED = True
RETRY_TIMES = 5
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
EMMEL_BACKOFF_BASE = 2.0  # seconds before the 1st retry; doubles each retry
EMMEL_BACKOFF_MAX = 120.0  # cap, also applied to Retry-After
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
    "crawlers.middlewares.EncodingFallbackMiddleware": 120,
}

# --- items and images
ITEM_PIPELINES = {
    "crawlers.pipelines.CleanItemPipeline": 100,
    "crawlers.pipelines.HeritageImagesPipeline": 200,
    "crawlers.pipelines.RawRecordPipeline": 300,
}
IMAGES_MIN_WIDTH = 0  # the build rejects low-resolution images with a reason; raise with --min-image-size
IMAGES_MIN_HEIGHT = 0
IMAGES_EXPIRES = 90  # days: a resumed crawl does not download stored images again
EMMEL_IMAGE_MAX_BYTES = 20 * 1024 * 1024
EMMEL_IMAGE_MAX_PIXELS = 40_000_000  # header check before decoding (decompression bombs)
MEDIA_ALLOW_REDIRECTS = True

# --- quiet, deterministic plumbing
TELNETCONSOLE_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
HTTPCACHE_ENABLED = False
HTTPCACHE_POLICY = "scrapy.extensions.httpcache.DummyPolicy"
HTTPCACHE_IGNORE_HTTP_CODES = [429, 500, 502, 503, 504]
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
