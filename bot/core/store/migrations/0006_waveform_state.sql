-- 6: an inpaint's waveform picture: made (its PNG in waveforms/), posted, or none.
ALTER TABLE tasks ADD COLUMN waveform_state TEXT;
