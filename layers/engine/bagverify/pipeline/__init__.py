"""Verification as three steps: plan → scan → aggregate. One path for every size.

- `plan.make_plan`: the central directory (a compact `MemberIndex`, fit for a million entries),
  the bag root, the manifests and their algorithms, and shards: contiguous runs of members cut
  by estimated work. Listing problems (duplicate entries, unsupported algorithms...) are found here.
- `scan.scan_tag_files` / `scan.scan_shard` (step 2, the scan, of the planner's tag files or of one
  shard's byte range; its result a `ScanResult`): the members, read through
  `archive.MemberReader` and digested in one pass (`checksums.digest_chunks`). The tag files the checks parse
  (bagit.txt, bag-info.txt, fetch.txt, manifests) are read by the planner's step, the rest by the
  shards, each over its own byte range.
- `aggregate.aggregate`: the results merged into one `BagContents`, `bag.checks.check_bag` on
  it, one `Verdict`.

`memory.estimated_memory` tells from the plan alone whether the process that aggregates can hold
the bag's files; past 90% of its memory the bag is refused (`too_many_files`) before any scan.

`bagverify.verify` runs the three in one process (one shard); `distributed` runs each in its own
Lambda invocation, passing plan, index and results through S3 (`work`), for Step Functions'
Distributed Map (statemachines/verify_bag_distributed.asl.json).
"""
