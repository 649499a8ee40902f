//! The agent turn: providers, tools, approval, budget — arriving piece by piece; approval first.

pub mod approval;
