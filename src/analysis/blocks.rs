//! Bounded block summaries of a time series of unknown length.
//!
//! Samples are grouped into blocks of equal sample count; each block keeps
//! only its mean time, minimum and maximum. When the number of blocks
//! reaches `2·wanted`, neighbouring blocks are merged pairwise and the block
//! size doubles. All four statistics merge exactly, so the result equals
//! what a second pass with the final block size would produce, while memory
//! stays at `2·wanted` blocks however long the run is.
//!
//! Block *minima* are what memsoak fits by default: the floor of a
//! garbage-collected, sawtooth-shaped footprint is the live set, and a leak
//! is the floor rising.

/// One block of consecutive samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Block {
    /// Number of samples in the block.
    pub count: u32,
    /// Sum of the sample times (seconds), for the mean time.
    pub time_sum: f64,
    /// Time of the first sample (seconds): where the block starts.
    pub start: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Block {
    fn new(t: f64, y: f64) -> Block {
        Block {
            count: 1,
            time_sum: t,
            start: t,
            min: y,
            max: y,
        }
    }

    fn absorb(&mut self, other: &Block) {
        self.count += other.count;
        self.time_sum += other.time_sum;
        self.start = self.start.min(other.start);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Mean sample time of the block, seconds.
    pub fn time(&self) -> f64 {
        self.time_sum / f64::from(self.count)
    }
}

/// Which block statistic the trend is fitted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockStat {
    /// Block minima: robust to GC sawtooth and transient spikes.
    #[default]
    Min,
}

/// Streaming accumulator of block summaries with bounded memory.
#[derive(Debug, Clone)]
pub struct Blocks {
    wanted: usize,
    span: u32,
    full: Vec<Block>,
    open: Option<Block>,
}

impl Blocks {
    /// Keeps between `wanted` and `2·wanted` blocks once enough samples arrived.
    pub fn new(wanted: usize) -> Blocks {
        let wanted = wanted.max(4);
        Blocks {
            wanted,
            span: 1,
            full: Vec::with_capacity(2 * wanted),
            open: None,
        }
    }

    /// Adds one sample at time `t` (seconds) with value `y`.
    pub fn push(&mut self, t: f64, y: f64) {
        let sample = Block::new(t, y);
        match &mut self.open {
            Some(b) => b.absorb(&sample),
            None => self.open = Some(sample),
        }
        if self.open.is_some_and(|b| b.count >= self.span) {
            self.full.extend(self.open.take());
            if self.full.len() >= 2 * self.wanted {
                self.halve();
            }
        }
    }

    fn halve(&mut self) {
        let merged: Vec<Block> = self
            .full
            .chunks(2)
            .map(|pair| {
                let mut b = pair[0];
                if let Some(second) = pair.get(1) {
                    b.absorb(second);
                }
                b
            })
            .collect();
        self.full.clear();
        self.full.extend(merged);
        self.span *= 2;
    }

    /// Samples per complete block.
    pub fn span(&self) -> u32 {
        self.span
    }

    /// Total samples pushed.
    pub fn samples(&self) -> u64 {
        self.full
            .iter()
            .chain(self.open.iter())
            .map(|b| u64::from(b.count))
            .sum()
    }

    /// The blocks to fit: every complete block. The open one is left out:
    /// its minimum and mean time cover fewer samples than the others', so
    /// on a growing series it would sit off the line, and the fit weighs
    /// the last point as much as any.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.full.iter()
    }

    /// The blocks starting at or after `from` seconds.
    pub fn blocks_from(&self, from: f64) -> impl Iterator<Item = &Block> {
        self.blocks().filter(move |b| b.start >= from)
    }

    /// `(time, statistic)` points for the trend fit.
    pub fn points(&self, stat: BlockStat) -> Vec<(f64, f64)> {
        self.points_from(stat, f64::NEG_INFINITY)
    }

    /// The points of the blocks starting at or after `from` seconds,
    /// neighbours merged `group` at a time (a last group less than half
    /// full is left out, as the open block is).
    pub fn points_grouped(&self, stat: BlockStat, from: f64, group: usize) -> Vec<(f64, f64)> {
        let group = group.max(1);
        let blocks: Vec<Block> = self.blocks_from(from).copied().collect();
        blocks
            .chunks(group)
            .filter(|c| 2 * c.len() >= group)
            .map(|c| {
                let mut b = c[0];
                for other in &c[1..] {
                    b.absorb(other);
                }
                let y = match stat {
                    BlockStat::Min => b.min,
                };
                (b.time(), y)
            })
            .collect()
    }

    /// The points of the blocks starting at or after `from` seconds.
    pub fn points_from(&self, stat: BlockStat, from: f64) -> Vec<(f64, f64)> {
        self.blocks_from(from)
            .map(|b| {
                let y = match stat {
                    BlockStat::Min => b.min,
                };
                (b.time(), y)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_and_merges_exactly() {
        let mut b = Blocks::new(8);
        for i in 0..10_000 {
            b.push(i as f64, (i % 7) as f64);
            assert!(b.full.len() < 16);
        }
        assert_eq!(b.samples(), 10_000);
        let count: u32 = b.full.iter().chain(b.open.iter()).map(|x| x.count).sum();
        assert_eq!(count, 10_000);
        let times: f64 = b.full.iter().chain(b.open.iter()).map(|x| x.time_sum).sum();
        assert_eq!(times, (0..10_000).map(f64::from).sum::<f64>());
        assert!(b.blocks().count() >= 8);
        assert!(b.points(BlockStat::Min).iter().all(|p| p.1 == 0.0));
    }

    #[test]
    fn few_samples_are_their_own_blocks() {
        let mut b = Blocks::new(8);
        for i in 0..5 {
            b.push(i as f64, i as f64 * 2.0);
        }
        assert_eq!(
            b.points(BlockStat::Min),
            vec![(0.0, 0.0), (1.0, 2.0), (2.0, 4.0), (3.0, 6.0), (4.0, 8.0)]
        );
    }
}
