"""Reports over the stored data, one SQL query per check: integrity of the glass data
(`integrity`) and field coverage of the glass and macro tables (`coverage`)."""
