"""Web-side logic shared by the routers: building games from units, summaries, unit dashboards, studies."""
