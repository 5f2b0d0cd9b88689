//! Surveys (SPEC "Service desk", issue 16 item 5): the questions a questionnaire may
//! ask, whether an answer fits its question, who may be invited again, and the results:
//! NPS and CSAT with their sample size and a 95 % margin of error.
//!
//! - **NPS** (Net Promoter Score) from answers 0..=10: promoters answer 9–10, detractors
//!   0–6; NPS = 100 × (promoters − detractors) / n, from −100 to 100. Its margin of error
//!   is 1.96 standard errors of the difference of the two shares:
//!   Var(p₊ − p₋) = (p₊ + p₋ − (p₊ − p₋)²) / n, times 100.
//! - **CSAT** from ratings 1..=5: the share of 4 and 5, as a percentage; its 95 %
//!   interval is the **Wilson** score interval (good at small n and near 0 or 100 %,
//!   where the normal interval leaves [0, 100]).
//!
//! A result with fewer than [`SMALL_SAMPLE`] answers is marked small. Pure: no IO.

use crate::error::DomainError;

/// A sample smaller than this is marked `small_sample`.
pub const SMALL_SAMPLE: u64 = 30;
/// The normal quantile of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;
/// No second survey within this many days of an answer…
pub const ANSWER_QUIET_DAYS: i64 = 90;
/// …or of a decline.
pub const DECLINE_QUIET_DAYS: i64 = 30;
/// Questions in one survey, and options in one choice question.
pub const QUESTIONS_MAX: usize = 50;
pub const OPTIONS_MAX: usize = 20;
/// Characters of a question, an option or a text answer.
pub const QUESTION_CHARS_MAX: usize = 500;
pub const ANSWER_CHARS_MAX: usize = 2_000;

/// What a question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionKind {
    /// 0..=10, "how likely are you to recommend us".
    Nps,
    /// 1..=5 satisfaction.
    Rating,
    /// One of the question's options.
    Choice,
    /// Free text.
    Text,
}

impl QuestionKind {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "nps" => Ok(QuestionKind::Nps),
            "rating" => Ok(QuestionKind::Rating),
            "choice" => Ok(QuestionKind::Choice),
            "text" => Ok(QuestionKind::Text),
            _ => Err(DomainError::invalid(
                "questions",
                format!("{s:?} is not a question kind (nps, rating, choice, text)"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Nps => "nps",
            QuestionKind::Rating => "rating",
            QuestionKind::Choice => "choice",
            QuestionKind::Text => "text",
        }
    }
}

/// One question of a survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub kind: QuestionKind,
    pub text: String,
    /// Only a choice question has options (at least two, distinct).
    pub options: Vec<String>,
}

/// Checks a questionnaire: 1 to [`QUESTIONS_MAX`] questions, each with a text; a choice
/// question with 2 to [`OPTIONS_MAX`] distinct non-empty options, the others with none.
pub fn check_questions(questions: &[Question]) -> Result<(), DomainError> {
    if questions.is_empty() || questions.len() > QUESTIONS_MAX {
        return Err(DomainError::invalid(
            "questions",
            format!("a survey asks 1 to {QUESTIONS_MAX} questions"),
        ));
    }
    for (i, q) in questions.iter().enumerate() {
        let n = i + 1;
        if q.text.trim().is_empty() || q.text.chars().count() > QUESTION_CHARS_MAX {
            return Err(DomainError::invalid(
                "questions",
                format!("question {n} needs a text of 1 to {QUESTION_CHARS_MAX} characters"),
            ));
        }
        match q.kind {
            QuestionKind::Choice => {
                if q.options.len() < 2 || q.options.len() > OPTIONS_MAX {
                    return Err(DomainError::invalid(
                        "questions",
                        format!("question {n} (choice) needs 2 to {OPTIONS_MAX} options"),
                    ));
                }
                for (j, o) in q.options.iter().enumerate() {
                    if o.trim().is_empty() || o.chars().count() > QUESTION_CHARS_MAX {
                        return Err(DomainError::invalid(
                            "questions",
                            format!("question {n} has an empty or overlong option"),
                        ));
                    }
                    if q.options[..j].contains(o) {
                        return Err(DomainError::invalid(
                            "questions",
                            format!("question {n} lists the option {o:?} twice"),
                        ));
                    }
                }
            }
            _ if !q.options.is_empty() => {
                return Err(DomainError::invalid(
                    "questions",
                    format!("question {n} ({}) takes no options", q.kind.as_str()),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// One answer, as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Number(i64),
    Text(String),
}

/// The answers of one response, checked against the questions: one answer per question
/// in order; a number 0..=10 for NPS and 1..=5 for a rating, one of the options for a
/// choice, a text of at most [`ANSWER_CHARS_MAX`] characters (possibly empty) for text.
/// Returns the first NPS answer and the first rating, which the results count.
pub fn check_answers(
    questions: &[Question],
    answers: &[Answer],
) -> Result<(Option<u8>, Option<u8>), DomainError> {
    if answers.len() != questions.len() {
        return Err(DomainError::invalid(
            "answers",
            format!(
                "one answer per question, in order: {} expected, {} sent",
                questions.len(),
                answers.len()
            ),
        ));
    }
    let (mut nps, mut rating) = (None, None);
    for (i, (q, a)) in questions.iter().zip(answers).enumerate() {
        let n = i + 1;
        let bad = |why: &str| DomainError::invalid("answers", format!("answer {n}: {why}"));
        match (q.kind, a) {
            (QuestionKind::Nps, Answer::Number(v)) if (0..=10).contains(v) => {
                nps.get_or_insert(*v as u8);
            }
            (QuestionKind::Nps, _) => return Err(bad("a whole number from 0 to 10")),
            (QuestionKind::Rating, Answer::Number(v)) if (1..=5).contains(v) => {
                rating.get_or_insert(*v as u8);
            }
            (QuestionKind::Rating, _) => return Err(bad("a whole number from 1 to 5")),
            (QuestionKind::Choice, Answer::Text(t)) if q.options.contains(t) => {}
            (QuestionKind::Choice, _) => return Err(bad("one of the question's options")),
            (QuestionKind::Text, Answer::Text(t))
                if t.chars().count() <= ANSWER_CHARS_MAX
                    && t.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => {}
            (QuestionKind::Text, _) => {
                return Err(bad(&format!(
                    "a text of at most {ANSWER_CHARS_MAX} characters, without control characters"
                )))
            }
        }
    }
    Ok((nps, rating))
}

/// Why a customer is not invited now, or `None` when they may be: no answer to any
/// survey within [`ANSWER_QUIET_DAYS`] and no decline within [`DECLINE_QUIET_DAYS`] of
/// `now` (all in µs).
pub fn invitation_blocked(
    last_answered_at: Option<i64>,
    last_declined_at: Option<i64>,
    now: i64,
) -> Option<&'static str> {
    const DAY_US: i64 = 86_400_000_000;
    if last_answered_at.is_some_and(|t| now - t < ANSWER_QUIET_DAYS * DAY_US) {
        Some("answered_recently")
    } else if last_declined_at.is_some_and(|t| now - t < DECLINE_QUIET_DAYS * DAY_US) {
        Some("declined_recently")
    } else {
        None
    }
}

/// Rounds to two decimals (half away from zero), as results are shown.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// NPS answers counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NpsTally {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
}

impl NpsTally {
    /// Counts an answer 0..=10 (others are ignored: they were refused on the way in).
    pub fn add(&mut self, answer: u8) {
        match answer {
            9..=10 => self.promoters += 1,
            7..=8 => self.passives += 1,
            0..=6 => self.detractors += 1,
            _ => {}
        }
    }

    pub fn n(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }

    /// NPS in −100..=100, unrounded; `None` without answers.
    pub fn nps(&self) -> Option<f64> {
        let n = self.n();
        (n > 0).then(|| 100.0 * (self.promoters as f64 - self.detractors as f64) / n as f64)
    }

    /// Half the width of the 95 % interval of the NPS, in NPS points; `None` without
    /// answers.
    pub fn margin95(&self) -> Option<f64> {
        let n = self.n();
        if n == 0 {
            return None;
        }
        let n = n as f64;
        let pp = self.promoters as f64 / n;
        let pd = self.detractors as f64 / n;
        let var = (pp + pd - (pp - pd).powi(2)).max(0.0) / n;
        Some(100.0 * Z95 * var.sqrt())
    }
}

/// Ratings counted: how many, and how many were 4 or 5.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsatTally {
    pub n: u64,
    pub satisfied: u64,
}

impl CsatTally {
    pub fn add(&mut self, rating: u8) {
        if (1..=5).contains(&rating) {
            self.n += 1;
            if rating >= 4 {
                self.satisfied += 1;
            }
        }
    }

    /// The share of 4–5 as a percentage; `None` without ratings.
    pub fn csat(&self) -> Option<f64> {
        (self.n > 0).then(|| 100.0 * self.satisfied as f64 / self.n as f64)
    }

    /// The Wilson 95 % interval of the CSAT, as percentages `(low, high)`.
    pub fn wilson95(&self) -> Option<(f64, f64)> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let p = self.satisfied as f64 / n;
        let z2 = Z95 * Z95;
        let denom = 1.0 + z2 / n;
        let centre = (p + z2 / (2.0 * n)) / denom;
        let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
        Some((
            100.0 * (centre - half).max(0.0),
            100.0 * (centre + half).min(1.0),
        ))
    }
}

/// Whether a sample of `n` is too small to read much into.
pub fn small_sample(n: u64) -> bool {
    n < SMALL_SAMPLE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(kind: QuestionKind, options: &[&str]) -> Question {
        Question {
            kind,
            text: "?".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn answers_zero_to_ten_give_nps_minus_45_45() {
        let mut t = NpsTally::default();
        for a in 0..=10 {
            t.add(a);
        }
        assert_eq!((t.promoters, t.passives, t.detractors), (2, 2, 7));
        assert_eq!(round2(t.nps().unwrap()), -45.45);
        // Var = (2/11 + 7/11 − (5/11)²) / 11; 1.96 × √Var × 100 = 46.21.
        assert_eq!(round2(t.margin95().unwrap()), 46.21);
        assert!(small_sample(t.n()));
    }

    #[test]
    fn nps_bounds_and_empty() {
        let mut all = NpsTally::default();
        let mut none = NpsTally::default();
        for _ in 0..40 {
            all.add(10);
            none.add(0);
        }
        assert_eq!(all.nps(), Some(100.0));
        assert_eq!(none.nps(), Some(-100.0));
        assert_eq!(all.margin95(), Some(0.0), "no spread, no margin");
        assert!(!small_sample(all.n()));
        assert_eq!(NpsTally::default().nps(), None);
        assert_eq!(NpsTally::default().margin95(), None);
        // Half promoters, half detractors: NPS 0, Var = 1/n.
        let mut half = NpsTally::default();
        for _ in 0..50 {
            half.add(10);
            half.add(0);
        }
        assert_eq!(half.nps(), Some(0.0));
        assert_eq!(round2(half.margin95().unwrap()), round2(100.0 * Z95 / 10.0));
    }

    #[test]
    fn csat_is_the_share_of_four_and_five_with_a_wilson_interval() {
        let mut t = CsatTally::default();
        for r in [1, 2, 3, 4, 5, 5, 4, 4] {
            t.add(r);
        }
        assert_eq!((t.n, t.satisfied), (8, 5));
        assert_eq!(t.csat(), Some(62.5));
        let (lo, hi) = t.wilson95().unwrap();
        // Wilson 95 % for 5 of 8: 30.57 % .. 86.32 %.
        assert_eq!((round2(lo), round2(hi)), (30.57, 86.32));
        assert!(lo < 62.5 && 62.5 < hi);
        // All satisfied: the interval stays within 100 %, unlike the normal one.
        let mut all = CsatTally::default();
        for _ in 0..10 {
            all.add(5);
        }
        let (lo, hi) = all.wilson95().unwrap();
        assert_eq!(round2(hi), 100.0);
        assert!(lo > 60.0 && lo < 75.0, "{lo}");
        assert_eq!(CsatTally::default().csat(), None);
    }

    #[test]
    fn questions_and_answers_are_checked() {
        let qs = vec![
            q(QuestionKind::Nps, &[]),
            q(QuestionKind::Rating, &[]),
            q(QuestionKind::Choice, &["快", "慢"]),
            q(QuestionKind::Text, &[]),
        ];
        check_questions(&qs).unwrap();
        assert!(check_questions(&[]).is_err());
        assert!(check_questions(&[q(QuestionKind::Choice, &["a"])]).is_err());
        assert!(check_questions(&[q(QuestionKind::Choice, &["a", "a"])]).is_err());
        assert!(check_questions(&[q(QuestionKind::Nps, &["a", "b"])]).is_err());
        let ok = [
            Answer::Number(9),
            Answer::Number(4),
            Answer::Text("快".into()),
            Answer::Text("".into()),
        ];
        assert_eq!(check_answers(&qs, &ok).unwrap(), (Some(9), Some(4)));
        for bad in [
            vec![
                Answer::Number(11),
                ok[1].clone(),
                ok[2].clone(),
                ok[3].clone(),
            ],
            vec![
                ok[0].clone(),
                Answer::Number(0),
                ok[2].clone(),
                ok[3].clone(),
            ],
            vec![
                ok[0].clone(),
                ok[1].clone(),
                Answer::Text("中".into()),
                ok[3].clone(),
            ],
            vec![
                ok[0].clone(),
                ok[1].clone(),
                ok[2].clone(),
                Answer::Number(1),
            ],
            vec![ok[0].clone(), ok[1].clone(), ok[2].clone()],
        ] {
            assert!(check_answers(&qs, &bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn no_invitation_within_90_days_of_an_answer_or_30_of_a_decline() {
        let day = 86_400_000_000i64;
        let now = 1_000 * day;
        assert_eq!(invitation_blocked(None, None, now), None);
        assert_eq!(
            invitation_blocked(Some(now - 89 * day), None, now),
            Some("answered_recently")
        );
        assert_eq!(invitation_blocked(Some(now - 90 * day), None, now), None);
        assert_eq!(
            invitation_blocked(None, Some(now - 29 * day), now),
            Some("declined_recently")
        );
        assert_eq!(invitation_blocked(None, Some(now - 30 * day), now), None);
    }
}
