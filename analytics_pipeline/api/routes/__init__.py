"""One router per area of the API; :data:`analytics_pipeline.api.app.ROUTER_MODULES` lists them."""
