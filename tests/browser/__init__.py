"""Browser tests: the console in Debian chromium, driven by Playwright."""
