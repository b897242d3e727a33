"""Quality assurance (质检): scorecards with automatic pre-scores, typical-case training sets
with masked clips, and the recording retention policy."""
