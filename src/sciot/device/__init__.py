"""The device client: head execution, timing reports and resilience."""
