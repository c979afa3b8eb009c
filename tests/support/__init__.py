"""What the tests share: the walker and its ports, free ports, people, programmes, database fixtures."""
