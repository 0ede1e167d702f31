"""Business data: the catalog (allow-list), query compilation and execution, time windows,
the warehouse, data sources and exports."""
