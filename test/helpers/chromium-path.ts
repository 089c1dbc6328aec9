/** Debian's Chromium (the `chromium` package): the only browser the web UI tests drive; none is ever downloaded. */
export const CHROMIUM = '/usr/bin/chromium';
