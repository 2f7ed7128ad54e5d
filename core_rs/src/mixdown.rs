//! Channel mixdown.

/// The mean of the channels, as librosa's `to_mono`.
pub fn to_mono(channels: Vec<Vec<f32>>) -> Vec<f32> {
    let count = channels.len();
    let mut planes = channels.into_iter();
    let Some(mut mono) = planes.next() else { return Vec::new() };
    if count == 1 {
        return mono;
    }
    for plane in planes {
        for (acc, sample) in mono.iter_mut().zip(plane) {
            *acc += sample;
        }
    }
    let scale = 1.0 / count as f32;
    mono.iter_mut().for_each(|s| *s *= scale);
    mono
}

#[cfg(test)]
mod tests {
    #[test]
    fn mean_of_channels() {
        assert_eq!(super::to_mono(vec![vec![1.0, 0.0], vec![0.0, -1.0]]), vec![0.5, -0.5]);
    }
}
