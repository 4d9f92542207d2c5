//! Interleaving simulation: a ranker whose items are clicked more often must win.

use aisle_core::rng::stream;
use aisle_impact::interleave::{Outcome, Team, credit, preference, preference_by_unit, team_draft};
use rand::Rng;

use super::aa::report_line;

const DOCUMENTS: u32 = 40;
const SHOWN: usize = 10;

#[test]
fn better_ranker_wins_team_draft() {
    let mut rng = stream(99, 0);
    // True relevance per document; A ranks by it, B by a noisy copy.
    let relevance: Vec<f64> = (0..DOCUMENTS).map(|_| rng.random::<f64>() * 0.5).collect();
    let mut by_truth: Vec<u32> = (0..DOCUMENTS).collect();
    by_truth.sort_by(|a, b| relevance[*b as usize].total_cmp(&relevance[*a as usize]));
    let noisy: Vec<f64> = relevance.iter().map(|r| r + rng.random::<f64>() * 0.5).collect();
    let mut by_noise: Vec<u32> = (0..DOCUMENTS).collect();
    by_noise.sort_by(|a, b| noisy[*b as usize].total_cmp(&noisy[*a as usize]));

    let (users, impressions_per_user) = (150, 8);
    let (mut wins_a, mut wins_b, mut ties) = (0u64, 0u64, 0u64);
    let mut per_user = Vec::new();
    for _ in 0..users {
        let mut user = (0u64, 0u64);
        for _ in 0..impressions_per_user {
            let list = team_draft(&by_truth, &by_noise, SHOWN, &mut rng);
            let teams: Vec<Team> = list.iter().map(|(_, t)| *t).collect();
            // Position-based clicks: examined with probability 1/(1 + position), clicked by relevance.
            let clicks: Vec<usize> = list
                .iter()
                .enumerate()
                .filter(|(pos, (doc, _))| {
                    rng.random::<f64>() < relevance[*doc as usize] / (1.0 + *pos as f64)
                })
                .map(|(pos, _)| pos)
                .collect();
            match credit(&teams, &clicks) {
                Outcome::A => (wins_a, user.0) = (wins_a + 1, user.0 + 1),
                Outcome::B => (wins_b, user.1) = (wins_b + 1, user.1 + 1),
                Outcome::Tie => ties += 1,
            }
        }
        per_user.push(user);
    }
    let by_impression = preference(wins_a, wins_b, ties, 0.05);
    let by_unit = preference_by_unit(&per_user, 0.05);
    let report = format!("interleaving: per impression {by_impression:?}; per user {by_unit:?}");
    report_line(&report);
    assert!(by_impression.delta > 0.0 && by_impression.p_value < 0.05, "{report}");
    assert!(by_impression.ci_low > 0.0, "{report}");
    assert!(by_unit.delta > 0.0 && by_unit.p_value < 0.05, "{report}");
}

#[test]
fn equal_rankers_rarely_differ() {
    // The same ranking on both sides: team draft splits credit by coin flips, so over 200
    // simulated experiments the 5% sign test fires in few of them.
    let ranking: Vec<u32> = (0..DOCUMENTS).collect();
    let mut false_positives = 0;
    for experiment in 0..200 {
        let mut rng = stream(5, experiment);
        let (mut a, mut b, mut t) = (0u64, 0u64, 0u64);
        for _ in 0..200 {
            let list = team_draft(&ranking, &ranking, SHOWN, &mut rng);
            let teams: Vec<Team> = list.iter().map(|(_, t)| *t).collect();
            let clicks: Vec<usize> =
                (0..SHOWN).filter(|pos| rng.random::<f64>() < 0.3 / (1.0 + *pos as f64)).collect();
            match credit(&teams, &clicks) {
                Outcome::A => a += 1,
                Outcome::B => b += 1,
                Outcome::Tie => t += 1,
            }
        }
        false_positives += u32::from(preference(a, b, t, 0.05).p_value < 0.05);
    }
    let rate = f64::from(false_positives) / 200.0;
    report_line(&format!("interleaving A/A: sign-test false-positive rate {rate:.3}"));
    assert!(rate <= 0.07, "false-positive rate {rate}");
}
