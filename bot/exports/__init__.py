"""What coordinators take out: referral exports (JSON, FHIR, CSV) and the report."""
