"""Flag eligibility decisions for review when the intake they were taken on changes."""
