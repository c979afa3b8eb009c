"""What coordinators take out: referral exports (JSON, FHIR, CSV), the dashboard (text, CSV, HTML with
charts) and the poster."""
