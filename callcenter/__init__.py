"""callcenter: the service-hotline agent for residential property management."""
